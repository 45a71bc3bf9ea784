"""Careline's core: what every layer stands on and that imports nothing of Careline above it: settings
(`config`), the database (`db`, `upsert`, `migrate`), Redis scripts, the one clock, logging, base errors
and Twilio's REST client."""
