"""The Gradio page, one module per tab; handlers only convert between page values and library calls."""
