import factory
from allauth.account.models import EmailAddress

from apps.accounts.models import User
from tests.networks.factories import NetworkFactory

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    network = factory.SubFactory(NetworkFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    handle = factory.Sequence(lambda n: f"user_{n}")
    display_name = factory.Faker("name")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create and self.email and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class AgentFactory(UserFactory):
    email = None
    is_ai = True
    agent_status = "active"
    agent_owner_user = factory.SubFactory(UserFactory, network=factory.SelfAttribute("..network"))
    handle = factory.Sequence(lambda n: f"agent_{n}")
