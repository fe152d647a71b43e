"""JMED builder, second half: ICD-10 names, question stems, the 21 options, review."""
