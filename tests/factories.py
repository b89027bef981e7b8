"""factory_boy factories for synthetic test data."""

from __future__ import annotations

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from consult.accounts.models import Crew, Department, Organisation, Role, User
from consult.records import phi as phi_codec
from consult.records.models import CareRelationship, Patient
from consult.records.phi import PatientPHI


class HospitalFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Test Hospital {n}")
    kind = Organisation.Kind.HOSPITAL


class AmbulanceServiceFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Test Ambulance Service {n}")
    kind = Organisation.Kind.AMBULANCE_SERVICE


class DepartmentFactory(DjangoModelFactory):
    class Meta:
        model = Department

    organisation = factory.SubFactory(HospitalFactory)
    name = factory.Sequence(lambda n: f"Department {n}")
    specialty = Department.Specialty.CARDIOLOGY


class CrewFactory(DjangoModelFactory):
    class Meta:
        model = Crew

    organisation = factory.SubFactory(AmbulanceServiceFactory)
    call_sign = factory.Sequence(lambda n: f"UNIT-{n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    role = Role.SPECIALIST
    department = factory.SubFactory(DepartmentFactory)
    organisation = factory.SelfAttribute("department.organisation")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):  # type: ignore[no-untyped-def]
        if create:
            instance.save()


class ParamedicFactory(UserFactory):
    role = Role.PARAMEDIC
    department = None
    crew = factory.SubFactory(CrewFactory)
    organisation = factory.SelfAttribute("crew.organisation")


def make_phi(n: int = 1, **overrides: object) -> PatientPHI:
    """Synthetic PHI; the canary strings let tests search raw storage for leaks."""
    values: dict[str, object] = {
        "family_name": f"Canaryfamily{n}",
        "given_name": f"Canarygiven{n}",
        "birth_date": dt.date(1970, 1, 1) + dt.timedelta(days=n),
        "sex": "female",
        "mrn": f"MRN-{n:05d}",
        "phone": "+44 7700 900000",
        "allergies": ("Penicillin",),
        "notes": f"Canarynote {n}: synthetic clinical free text.",
    }
    values.update(overrides)
    return PatientPHI(**values)  # type: ignore[arg-type]


class PatientFactory(DjangoModelFactory):
    """A patient with sealed PHI; pass ``phi=`` or get canary PHI."""

    class Meta:
        model = Patient

    organisation = factory.SubFactory(HospitalFactory)

    @classmethod
    def _create(cls, model_class, *args, phi=None, **kwargs):  # type: ignore[no-untyped-def]
        patient = model_class(*args, **kwargs)
        phi_codec.seal(patient, phi or make_phi(abs(hash(patient.pk)) % 100000))
        patient.save(force_insert=True)
        return patient


class CareRelationshipFactory(DjangoModelFactory):
    class Meta:
        model = CareRelationship

    patient = factory.SubFactory(PatientFactory)
    kind = CareRelationship.Kind.DEPARTMENT


# --- emergency -------------------------------------------------------------


class EmergencyDepartmentFactory(DepartmentFactory):
    """An emergency department: it watches every inbound case from the start."""

    name = factory.Sequence(lambda n: f"Emergency {n}")
    specialty = Department.Specialty.EMERGENCY


class OperatorFactory(UserFactory):
    """A command-centre operator in a hospital's emergency department."""

    role = Role.OPERATOR
    department = factory.SubFactory(EmergencyDepartmentFactory)


class ReceivingHospitalFactory(DjangoModelFactory):
    class Meta:
        model = "emergency.ReceivingHospital"

    organisation = factory.SubFactory(HospitalFactory)
    lat = 51.5074
    lon = -0.1278


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = "emergency.Team"
        skip_postgeneration_save = True

    organisation = factory.SubFactory(HospitalFactory)
    code = "cath_lab"
    name = "Cath lab team"
    activates_for = factory.LazyFunction(lambda: ["stemi"])

    @factory.post_generation
    def members(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted:
            self.members.set(extracted)


class EmergencyCaseFactory(DjangoModelFactory):
    """A case opened through the service by ``paramedic`` for ``destination``."""

    class Meta:
        model = "emergency.EmergencyCase"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        from consult.emergency import services
        from consult.emergency.casetext import CaseText
        from consult.records.context import AccessContext

        paramedic = kwargs.pop("paramedic", None) or ParamedicFactory()
        destination = kwargs.pop("destination", None) or HospitalFactory()
        text = kwargs.pop("text", None) or CaseText(
            chief_complaint="Canarycomplaint central chest pain",
            treatment="Aspirin 300 mg",
        )
        return services.case_open(
            actor=paramedic,
            destination_id=destination.pk,
            category=kwargs.pop("category", "stemi"),
            estimated_age=kwargs.pop("estimated_age", 64),
            sex=kwargs.pop("sex", "male"),
            text=text,
            ctx=AccessContext(channel="test"),
            **kwargs,
        )
