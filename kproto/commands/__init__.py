"""The work behind the CLI's commands: evaluate, predict, export, generate, figures, sweep, scaffold, tracking."""
