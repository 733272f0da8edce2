"""Geography: the six cities, shipped district outlines, the build step and road import."""
