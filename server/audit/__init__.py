"""The audit log: every change of a credit deduction, a case or an account, append-only and hash-chained."""
