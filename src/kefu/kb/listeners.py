"""Knowledge-base listeners (index on publish, widget suggestions) are registered here."""
