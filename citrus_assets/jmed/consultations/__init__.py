"""JMED builder, first half: consultation loaders, de-identification, structured medical records."""
