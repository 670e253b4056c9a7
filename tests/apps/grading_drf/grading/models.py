"""Exams, copies (with booklets of page images), locks and annotations. Every relation is
``on_delete=PROTECT``: grading data is never deleted by a cascade."""

from django.conf import settings
from django.db import models


class Exam(models.Model):
    name = models.CharField(max_length=200)
    date = models.DateField()


class Copy(models.Model):
    class Status(models.TextChoices):
        READY = "READY"
        GRADED = "GRADED"

    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, related_name="copies")
    anonymous_id = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    final_pdf = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class Booklet(models.Model):
    copy = models.ForeignKey(Copy, on_delete=models.PROTECT, related_name="booklets")
    pages_images = models.JSONField(default=list)

    class Meta:
        ordering = ["id"]


class CopyLock(models.Model):
    copy = models.OneToOneField(Copy, on_delete=models.PROTECT, related_name="lock")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    token = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()


class Annotation(models.Model):
    class Kind(models.TextChoices):
        COMMENT = "COMMENT"
        HIGHLIGHT = "HIGHLIGHT"
        ERROR = "ERROR"
        CHECK = "CHECK"

    copy = models.ForeignKey(Copy, on_delete=models.PROTECT, related_name="annotations")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    page_index = models.PositiveIntegerField()
    x = models.FloatField()
    y = models.FloatField()
    w = models.FloatField()
    h = models.FloatField()
    type = models.CharField(max_length=16, choices=Kind.choices)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
