"""milestone-bot: turns milestones, issues and red builds into validated pull requests."""

__version__ = "0.1.0"
