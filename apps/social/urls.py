from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import communities, people, posts

router = SimpleRouter(trailing_slash=True)
router.register("feed", posts.FeedViewSet, basename="feed")
router.register("posts", posts.PostViewSet, basename="post")
router.register("tags", posts.TagViewSet, basename="tag")
router.register("communities", communities.CommunityViewSet, basename="community")
router.register("community-members", communities.CommunityMemberViewSet, basename="community-member")
router.register("follows", people.FollowViewSet, basename="follow")
router.register("blocks", people.BlockViewSet, basename="block")
router.register("reports", people.ReportViewSet, basename="report")
router.register("moderation-log", people.ModerationLogViewSet, basename="moderation-log")

_list = {"get": "list"}
_list_create = {"get": "list", "post": "create"}

urlpatterns = [
    path("tags/<str:slug>/posts/", posts.TagPostsViewSet.as_view(_list), name="tag-posts"),
    path(
        "communities/<uuid:community_pk>/members/",
        communities.CommunityMembersViewSet.as_view(_list_create),
        name="community-members",
    ),
    path(
        "communities/<uuid:community_pk>/bans/",
        communities.CommunityBansViewSet.as_view(_list_create),
        name="community-bans",
    ),
    path(
        "users/<uuid:user_pk>/followers/", people.UserFollowersViewSet.as_view(_list), name="user-followers"
    ),
    path(
        "users/<uuid:user_pk>/following/", people.UserFollowingViewSet.as_view(_list), name="user-following"
    ),
    *router.urls,
]
