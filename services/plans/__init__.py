"""The plans service (not built yet): SEN support plans and their APDR cycles, reviews, provision maps,
the school's SEND self-evaluation and action plan. It has no process until its issue is taken."""
