"""Report-level figures (forest plots, coder agreement); probe figures live with each probe."""
