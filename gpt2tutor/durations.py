"""A duration in words, as every message of the tutor writes one."""


def duration(seconds: float) -> str:
    """12 s · 3 min 05 s · 14 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds < 600 else f"{round(seconds / 60)} min"
