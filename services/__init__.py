"""The sendcase services. Each subpackage owns one part of the work; `runtime` is what they share."""
