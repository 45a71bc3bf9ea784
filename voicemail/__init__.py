"""Messages patients leave and the callback tasks that make sure someone calls them back."""
