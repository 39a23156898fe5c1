from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CookieSessionScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.CookieSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.SessionTokenAuthentication"
    name = "sessionToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "allauth headless app session token (from /_allauth/app/v1/auth/login).",
        }
