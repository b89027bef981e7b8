"""The schedule-an-operation form (server-rendered; the API takes the same fields)."""

from __future__ import annotations

from typing import Any

from django import forms

from consult.accounts.models import Role, User
from surgery_guidance.models import Operation
from surgery_guidance.services import MAX_MENTORS, MENTOR_ROLES


class _PersonChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        dept = f" · {obj.department.name}" if obj.department_id else ""
        return f"{obj.get_full_name() or obj.username}{dept}"


class _PeopleChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        dept = f" · {obj.department.name}" if obj.department_id else ""
        return f"{obj.get_full_name() or obj.username}{dept}"


class OperationForm(forms.Form):
    title = forms.CharField(
        max_length=120,
        help_text="Trainees see it: describe the procedure, never the patient.",
    )
    procedure = forms.CharField(max_length=120, help_text="Groups the recording.")
    theatre = forms.CharField(max_length=60, required=False)
    scheduled_start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    surgeon = _PersonChoice(queryset=User.objects.none())
    mentors = _PeopleChoice(
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    moderator = _PersonChoice(
        queryset=User.objects.none(),
        required=False,
        help_text="Approves trainees' questions; the surgeon if empty.",
    )
    vitals = forms.ChoiceField(choices=Operation.Vitals.choices, required=False)

    def __init__(self, *args: Any, organisation: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = User.objects.filter(
            organisation=organisation, is_active=True
        ).select_related("department")
        self.fields["surgeon"].queryset = people.filter(role=Role.SURGEON)
        self.fields["mentors"].queryset = people.filter(role__in=MENTOR_ROLES)
        self.fields["moderator"].queryset = people.exclude(role=Role.TRAINEE)

    def clean_mentors(self) -> list[User]:
        mentors = list(self.cleaned_data["mentors"])
        if len(mentors) > MAX_MENTORS:
            raise forms.ValidationError(f"At most {MAX_MENTORS} mentors.")
        return mentors
