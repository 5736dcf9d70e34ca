"""Live trial reporting: the Tune callback that pushes results and the wire format it speaks."""
