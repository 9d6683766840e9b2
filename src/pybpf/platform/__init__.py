"""Platform tables shared by the verifier and the runtimes: helpers, program types, map types."""
