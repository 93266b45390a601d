"""Where the notifications service talks to the outside world: delivery channels (file outbox, SMTP, GOV.UK Notify), letters as PDF, and Notify's delivery-status callbacks."""
