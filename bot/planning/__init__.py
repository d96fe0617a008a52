"""Planning: milestones, issues and red builds into checklists; the checklist file format."""
