from rest_framework import serializers

from .models import Annotation, Booklet, Copy, Exam


class ExamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Exam
        fields = ["id", "name", "date"]


class BookletSerializer(serializers.ModelSerializer):
    class Meta:
        model = Booklet
        fields = ["id", "pages_images"]


class CopySerializer(serializers.ModelSerializer):
    booklets = BookletSerializer(many=True, read_only=True)
    pages_count = serializers.SerializerMethodField()
    is_locked = serializers.SerializerMethodField()

    class Meta:
        model = Copy
        fields = ["id", "exam", "anonymous_id", "status", "pages_count", "booklets", "is_locked"]

    def get_pages_count(self, copy: Copy) -> int:
        return sum(len(b.pages_images) for b in copy.booklets.all())

    def get_is_locked(self, copy: Copy) -> bool:
        return hasattr(copy, "lock")


class AnnotationSerializer(serializers.ModelSerializer):
    x = serializers.FloatField(min_value=0, max_value=1)
    y = serializers.FloatField(min_value=0, max_value=1)
    w = serializers.FloatField(min_value=0, max_value=1)
    h = serializers.FloatField(min_value=0, max_value=1)

    class Meta:
        model = Annotation
        fields = ["id", "copy", "page_index", "x", "y", "w", "h", "type", "content", "created_at"]
        read_only_fields = ["id", "copy", "created_at"]
