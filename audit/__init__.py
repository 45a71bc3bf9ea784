"""The audit trail: who read patient data or acted as an administrator, append-only and hash-chained."""
