"""The simulator and the simulated sensor inventory (everything SIMULATED lives here)."""
