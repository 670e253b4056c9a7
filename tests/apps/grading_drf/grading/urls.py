from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.HealthView.as_view()),
    path("login/", views.LoginView.as_view()),
    path("exams/", views.ExamListView.as_view()),
    path("exams/<int:exam_id>/copies/", views.CopyListView.as_view()),
    path("grading/copies/<int:pk>/lock/", views.LockView.as_view()),
    path("grading/copies/<int:pk>/lock/release/", views.ReleaseLockView.as_view()),
    path("grading/copies/<int:pk>/annotations/", views.AnnotationListCreateView.as_view()),
    path("grading/copies/<int:pk>/finalize/", views.FinalizeView.as_view()),
    path("grading/copies/<int:pk>/final-pdf/", views.FinalPdfView.as_view()),
]
