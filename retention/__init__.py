"""Retention: each practice's recordings, messages and calls kept for its own number of days
([practices.retention]), then deleted: recordings at Twilio and in Careline, then the rows (retention.service)."""
