"""The reminder engine: pure schedule rules, planning (DB → due reminders), sending."""
