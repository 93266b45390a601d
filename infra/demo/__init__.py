"""`sendcase demo`: one SENCO action flowing through the system (`walkthrough`), a small LA's rolls and census
(`register`), and the letters and emails the file channel wrote (`outbox`, also `sendcase notifications
outbox`)."""
