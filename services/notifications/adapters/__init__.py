"""Where the notifications service talks to the outside world: delivery channels (file outbox, SMTP,
GOV.UK Notify), letters as PDF, and GOV.UK Notify's delivery-status callbacks."""
