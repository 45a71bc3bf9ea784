"""Complaints (issue 16): acted on, and the patient told what was done; received, being looked at, patient
informed, closed, each change with who and when, and a due time per practice."""
