"""The grading API (the seed runbook's 9 smoke steps), in plain DRF idiom."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Annotation, Copy, CopyLock, Exam
from .pdf import render_pdf
from .renderers import PDFRenderer
from .serializers import AnnotationSerializer, CopySerializer, ExamSerializer

LOCK_TTL = timedelta(minutes=15)


class IsTeacher(BasePermission):
    message = "You do not have permission to grade copies."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.groups.filter(name="teachers").exists())


def active_lock(copy: Copy) -> CopyLock | None:
    lock = CopyLock.objects.filter(copy=copy).first()
    if lock is not None and lock.expires_at <= timezone.now():
        lock.delete()
        return None
    return lock


def require_lock(request, copy: Copy) -> CopyLock:
    lock = active_lock(copy)
    token = request.headers.get("X-Lock-Token") or ""
    if (
        lock is None
        or lock.owner_id != request.user.id
        or not constant_time_compare(token, lock.token)
    ):
        raise PermissionDenied("Lock token missing, invalid or expired.")
    return lock


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"status": "ok", "version": settings.APP_VERSION})


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "login"

    def post(self, request):
        user = authenticate(
            request,
            username=request.data.get("username"),
            password=request.data.get("password"),
        )
        if user is None:
            return Response({"error": "Invalid credentials"}, status=status.HTTP_401_UNAUTHORIZED)
        login(request._request, user)
        return Response({"message": "Login successful"})


class ExamListView(generics.ListAPIView):
    queryset = Exam.objects.order_by("id")
    serializer_class = ExamSerializer


class CopyListView(generics.ListAPIView):
    serializer_class = CopySerializer
    pagination_class = None
    permission_classes = [IsTeacher]

    def get_queryset(self):
        qs = Copy.objects.filter(exam_id=self.kwargs["exam_id"]).prefetch_related("booklets")
        wanted = self.request.query_params.get("status")
        return qs.filter(status=wanted) if wanted else qs


class LockView(APIView):
    permission_classes = [IsTeacher]

    def post(self, request, pk):
        with transaction.atomic():
            copy = get_object_or_404(Copy.objects.select_for_update(), pk=pk)
            if copy.status != Copy.Status.READY:
                return Response(
                    {"detail": f"Copy is {copy.status}, not READY."},
                    status=status.HTTP_409_CONFLICT,
                )
            lock = active_lock(copy)
            expires = timezone.now() + LOCK_TTL
            if lock is not None and lock.owner_id != request.user.id:
                return Response(
                    {
                        "detail": "Copy is locked by another grader.",
                        "locked_until": lock.expires_at,
                    },
                    status=status.HTTP_409_CONFLICT,
                )
            if lock is not None:  # the same grader again: refresh and hand back the token
                lock.expires_at = expires
                lock.save(update_fields=["expires_at"])
                code = status.HTTP_200_OK
            else:
                lock = CopyLock.objects.create(
                    copy=copy,
                    owner=request.user,
                    token=secrets.token_urlsafe(32),
                    expires_at=expires,
                )
                code = status.HTTP_201_CREATED
        return Response({"token": lock.token, "expires_at": lock.expires_at}, status=code)


class ReleaseLockView(APIView):
    permission_classes = [IsTeacher]

    def delete(self, request, pk):
        copy = get_object_or_404(Copy, pk=pk)
        if active_lock(copy) is None:
            return Response({"detail": "No lock held on this copy."}, status=404)
        require_lock(request, copy).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationListCreateView(generics.ListCreateAPIView):
    serializer_class = AnnotationSerializer
    pagination_class = None
    permission_classes = [IsTeacher]

    def copy(self) -> Copy:
        return get_object_or_404(Copy, pk=self.kwargs["pk"])

    def get_queryset(self):
        return Annotation.objects.filter(copy=self.copy())

    def perform_create(self, serializer):
        copy = self.copy()
        require_lock(self.request, copy)
        serializer.save(copy=copy, author=self.request.user)


class FinalizeView(APIView):
    permission_classes = [IsTeacher]

    def post(self, request, pk):
        with transaction.atomic():
            copy = get_object_or_404(Copy.objects.select_for_update(), pk=pk)
            lock = require_lock(request, copy)
            copy.status = Copy.Status.GRADED
            copy.final_pdf = render_pdf(f"Copy {copy.anonymous_id} - GRADED")
            copy.save(update_fields=["status", "final_pdf"])
            lock.delete()
        return Response(CopySerializer(copy).data)


class FinalPdfView(APIView):
    permission_classes = [IsTeacher]
    renderer_classes = [PDFRenderer]

    def get(self, request, pk):
        copy = get_object_or_404(Copy, pk=pk)
        if not copy.final_pdf:
            return Response({"detail": "The final PDF has not been generated."}, status=404)
        response = Response(bytes(copy.final_pdf))
        response["Content-Disposition"] = f'inline; filename="copy-{copy.pk}.pdf"'
        return response
