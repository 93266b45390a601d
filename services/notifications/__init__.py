"""The notifications service: every message owed to a parent, young person or professional.

It owns the duty to tell, the content and the delivery; it does not own the clocks or the facts that
create the duties (those come from the other services' integration events).
"""
