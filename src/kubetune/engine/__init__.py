"""The tuning engine: turns a validated experiment into a Ray Tune run, locally or inside a RayJob."""
