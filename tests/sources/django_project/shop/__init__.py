"""The shop app: users from django.contrib.auth, posts, comments, orders, ..."""
