"""Text rules every stage shares: the answer parser, the think/answer validator, the language detector, degeneration."""
