"""The engine room: tuned kernels and the batch-chunk process runtime."""
