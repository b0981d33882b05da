"""loan_default."""
