"""The register service: each school's SEN register (status N / K / E and ranked need types).

Owns the pupil's SEN status and needs history; publishes the facts that create duties to tell parents.
"""
