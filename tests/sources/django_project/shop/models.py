"""Models of a small social shop around ``django.contrib.auth``'s User."""

from __future__ import annotations

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL


class Profile(models.Model):
    user = models.OneToOneField(USER, on_delete=models.CASCADE)
    bio = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        app_label = "shop"


class Tag(models.Model):
    label = models.CharField(max_length=50)

    class Meta:
        app_label = "shop"


class Post(models.Model):
    author = models.ForeignKey(USER, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    tags = models.ManyToManyField(Tag, blank=True)

    class Meta:
        app_label = "shop"


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE)
    author = models.ForeignKey(USER, on_delete=models.CASCADE)
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
    body = models.TextField()

    class Meta:
        app_label = "shop"


class Like(models.Model):
    user = models.ForeignKey(USER, on_delete=models.CASCADE)
    post = models.ForeignKey(Post, on_delete=models.CASCADE)

    class Meta:
        app_label = "shop"


class Follow(models.Model):
    follower = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    followee = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="followers")

    class Meta:
        app_label = "shop"


class Order(models.Model):
    user = models.ForeignKey(USER, on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    meta = models.JSONField(default=dict)

    class Meta:
        app_label = "shop"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
    sku = models.CharField(max_length=40)

    class Meta:
        app_label = "shop"


class Invoice(models.Model):
    order = models.ForeignKey(Order, null=True, on_delete=models.SET_NULL)
    number = models.CharField(max_length=40)

    class Meta:
        app_label = "shop"


class Workspace(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE)
    title = models.CharField(max_length=100)

    class Meta:
        app_label = "shop"


class Folder(models.Model):
    workspace = models.ForeignKey(Workspace, null=True, on_delete=models.CASCADE)
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
    title = models.CharField(max_length=100)

    class Meta:
        app_label = "shop"


class ApiKey(models.Model):
    user = models.ForeignKey(USER, on_delete=models.CASCADE)
    label = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=200)

    class Meta:
        app_label = "shop"


class Country(models.Model):
    code = models.CharField(max_length=2, primary_key=True)

    class Meta:
        app_label = "shop"
