"""Write strategies and storage seams; no assets live here."""
