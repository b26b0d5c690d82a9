"""One package per task; ``python -m tasks`` lists them and runs the demo."""
