"""The hand tools: what a stroke, polygon, fill, box or scribble does, and the shared tool box."""
