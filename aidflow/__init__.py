"""The whole aidflow system in one process, and the demo feeder that shows it working."""
