"""Where changes happen: git worktrees, the subprocess runner, edit formats and safe apply."""
