"""``manage.py seed_e2e_data``: the e2e seed the runbook names (teachers, one exam, copies).

Like the real seed, the first READY copy has no page images yet: a smoke test that takes "the
first READY copy" fails on it; one that asks for a READY copy *with pages* does not."""

import datetime
import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from grading.models import Annotation, Booklet, Copy, CopyLock, Exam


class Command(BaseCommand):
    help = "Reset and load the e2e seed data."

    def add_arguments(self, parser):
        parser.add_argument("--ready", type=int, default=3, help="READY copies with pages")
        parser.add_argument("--password", default=os.environ.get("SMOKE_PASS", "changeme"))

    @transaction.atomic
    def handle(self, *args, **options):
        # Children first: every relation is PROTECT.
        for model in (Annotation, CopyLock, Booklet, Copy, Exam):
            model.objects.all().delete()
        teachers, _ = Group.objects.get_or_create(name="teachers")
        for name, teacher in (("prof1", True), ("prof2", True), ("student1", False)):
            user, _ = User.objects.get_or_create(username=name)
            user.set_password(options["password"])
            user.save()
            if teacher:
                user.groups.add(teachers)
        exam = Exam.objects.create(
            name="Bac blanc — Mathématiques", date=datetime.date(2026, 6, 15)
        )
        Booklet.objects.create(copy=Copy.objects.create(exam=exam, anonymous_id="A-000"))
        for n in range(1, options["ready"] + 1):
            copy = Copy.objects.create(exam=exam, anonymous_id=f"A-{n:03d}")
            Booklet.objects.create(
                copy=copy,
                pages_images=[f"/media/copies/{copy.pk}/page-{p}.png" for p in (1, 2)],
            )
        graded = Copy.objects.create(exam=exam, anonymous_id="A-900", status=Copy.Status.GRADED)
        Booklet.objects.create(copy=graded, pages_images=[f"/media/copies/{graded.pk}/page-1.png"])
        self.stdout.write(f"seeded: exam {exam.pk}, {options['ready']} READY copies with pages")
