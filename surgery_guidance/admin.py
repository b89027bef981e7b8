from django.contrib import admin

from surgery_guidance.models import Operation, Question, Recording


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ("title", "procedure", "surgeon", "scheduled_start", "status")
    list_filter = ("status", "broadcast")
    # The patient link is never shown here: trainees' titles must stay clean.
    exclude = ("patient", "annotation_state")
    readonly_fields = ("broadcast_token", "composite_track", "hls_path")


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("procedure", "operation", "started_at", "duration_s")


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("operation", "status", "created_at")
