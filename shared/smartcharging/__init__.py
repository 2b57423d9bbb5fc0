"""Smart charging logic more than one process needs: the composite schedule and profile checks."""
