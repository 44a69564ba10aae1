"""stories: same-event articles from different outlets share one ``story_id``."""
