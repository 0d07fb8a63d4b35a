"""Enterprise credit (诚信分值): the standard, the ledger of deductions, scores and grades."""
