"""Data protection: the key that seals what people wrote, the audit of who
looked at a case, retention, and a person's own data."""
